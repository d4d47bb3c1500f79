"""The providers' face: the session callbacks charge-point providers post with their own token."""
