# Destructive: the v2 code writes these columns, so it fails once they are
# gone. The migration needs a window (maintenance on, workers stopped).
class RemoveReferrer < ActiveRecord::Migration[6.1]
  def change
    remove_column :jobs, :referrer, :string
    remove_column :visits, :referrer, :string
    # LEDGER_MIGRATION_SECONDS: a pause, to make the migration as slow as a
    # big table's (the benchmark's knob).
    sleep ENV.fetch("LEDGER_MIGRATION_SECONDS", "0").to_f
  end
end
