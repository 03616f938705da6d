# Models arrive with this app's issue; the app is installed so migrations and
# admin registration have a home from day one.
