"""The thin HTTP edge: validate, publish with a confirm, answer."""
