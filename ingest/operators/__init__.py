"""The operators' face: the admin API (sessions read back, subscriptions and deliveries, dead
letters) with the admin token, and the portal's static files that call it."""
