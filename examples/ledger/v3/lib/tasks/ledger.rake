namespace :ledger do
  desc "The worker process: turn queued jobs into visits, forever (ONCE=1: drain and exit)"
  task work: :environment do
    $stdout.sync = true
    stop = false
    %w[TERM INT].each { |sig| Signal.trap(sig) { stop = true } }
    puts "worker: started (#{Ledger::VERSION})"
    until stop
      begin
        job = Job.transaction do
          # locked until the visit is written: two workers never take one job
          taken = Job.order(:id).lock("FOR UPDATE SKIP LOCKED").first
          next nil unless taken
          Visit.create!(path: taken.path)
          taken.destroy!
        end
        if job
          puts "worker: counted #{job.path}"
        else
          break if ENV["ONCE"]
          sleep 0.5
        end
      rescue ActiveRecord::ActiveRecordError => e
        # Code that does not match the schema fails the job, not the loop:
        # one line a benchmark can count and place (bench/worklog.py).
        puts "JOB FAILED #{e.class}: #{e.message.lines.first&.strip} at=#{Time.now.to_f}"
        ActiveRecord::Base.clear_active_connections!
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
