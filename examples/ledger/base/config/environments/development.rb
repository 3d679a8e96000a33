Rails.application.configure do
  config.cache_classes = false
  config.eager_load = false
  config.consider_all_requests_local = true
  config.assets.debug = false
  config.active_support.deprecation = :log
end
