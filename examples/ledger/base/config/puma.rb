# Heroku's recommended puma config: bind $PORT on every interface (the
# sandbox keeps the dyno on loopback whatever it binds).
threads_count = ENV.fetch("RAILS_MAX_THREADS") { 5 }
threads threads_count, threads_count
port ENV.fetch("PORT") { 3000 }
environment ENV.fetch("RAILS_ENV") { "development" }
workers ENV.fetch("WEB_CONCURRENCY") { 0 }
