namespace :ledger do
  desc "The worker process: turn queued jobs into visits, forever (ONCE=1: drain and exit)"
  task work: :environment do
    $stdout.sync = true
    stop = false
    %w[TERM INT].each { |sig| Signal.trap(sig) { stop = true } }
    puts "worker: started (#{Ledger::VERSION})"
    until stop
      job = Job.order(:id).lock("FOR UPDATE SKIP LOCKED").first
      if job
        Job.transaction do
          Visit.create!(path: job.path)
          job.destroy!
        end
        puts "worker: counted #{job.path}"
      else
        break if ENV["ONCE"]
        sleep 0.5
      end
    end
    puts "worker: stopped"
  end
end

# LEDGER_ASSET_SECONDS: a pause inside assets:precompile, wherever it runs,
# to make the compile as slow as a big app's (the benchmark's knob).
if Rake::Task.task_defined?("assets:precompile")
  Rake::Task["assets:precompile"].enhance do
    seconds = ENV.fetch("LEDGER_ASSET_SECONDS", "0").to_f
    sleep seconds if seconds.positive?
  end
end
