# Heroku's recommended puma config: bind $PORT on every interface (the
# sandbox keeps the dyno on loopback whatever it binds), WEB_CONCURRENCY
# processes of RAILS_MAX_THREADS threads each. Two processes by default, as
# tally's gunicorn runs two workers: one Ruby process serves one request's
# Ruby code at a time.
threads_count = ENV.fetch("RAILS_MAX_THREADS") { 5 }
threads threads_count, threads_count
port ENV.fetch("PORT") { 3000 }
environment ENV.fetch("RAILS_ENV") { "development" }
workers ENV.fetch("WEB_CONCURRENCY") { 2 }
preload_app!
