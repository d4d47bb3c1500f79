"""The HTTP service: the providers' sessions API (validate, publish with a confirm, answer), the
admin API (sessions read back, subscriptions and their deliveries, dead letters), health,
readiness and metrics, and the operators' portal under /ui/."""
