# Every page view queues a Job; the worker (rake ledger:work) turns each
# job into a Visit. /up answers without touching the database.
class VisitsController < ApplicationController
  def index
    Job.create!(path: request.path)
    @visits = Visit.count
    @queued = Job.count
  end

  def up
    render plain: "ledger #{Ledger::VERSION}"
  end
end
