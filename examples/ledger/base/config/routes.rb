Rails.application.routes.draw do
  root "visits#index"
  get "up", to: "visits#up"
end
