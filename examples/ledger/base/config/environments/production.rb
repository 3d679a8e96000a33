Rails.application.configure do
  config.cache_classes = true
  config.eager_load = true
  config.consider_all_requests_local = false
  config.action_controller.perform_caching = true
  # Heroku's Ruby buildpack sets RAILS_SERVE_STATIC_FILES and RAILS_LOG_TO_STDOUT
  # in .profile.d; a Rails 6.1 app reads them here.
  config.public_file_server.enabled = ENV["RAILS_SERVE_STATIC_FILES"].present?
  config.assets.compile = false
  config.assets.css_compressor = nil
  config.log_level = :info
  config.log_tags = [:request_id]
  if ENV["RAILS_LOG_TO_STDOUT"].present?
    logger = ActiveSupport::Logger.new($stdout)
    logger.formatter = config.log_formatter
    config.logger = ActiveSupport::TaggedLogging.new(logger)
  end
  config.active_support.deprecation = :notify
  config.active_record.dump_schema_after_migration = false
end
