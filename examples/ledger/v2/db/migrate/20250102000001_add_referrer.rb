# Additive: nullable columns. The v1 code, which never names them, keeps
# working on the new schema, so the migration can run while it serves.
class AddReferrer < ActiveRecord::Migration[6.1]
  def change
    add_column :jobs, :referrer, :string
    add_column :visits, :referrer, :string
  end
end
