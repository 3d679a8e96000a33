# A broken release: every page answers 500 (the health check must roll it back).
class VisitsController < ApplicationController
  def index
    raise "v5 is broken on purpose"
  end

  def up
    raise "v5 is broken on purpose"
  end
end
