# Destructive: the v2 code writes these columns, so it fails once they are
# gone. The migration needs a window (maintenance on, workers stopped).
class RemoveReferrer < ActiveRecord::Migration[6.1]
  def change
    remove_column :jobs, :referrer, :string
    remove_column :visits, :referrer, :string
  end
end
