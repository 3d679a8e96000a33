class CreateJobsAndVisits < ActiveRecord::Migration[6.1]
  def change
    create_table :jobs do |t|
      t.string :path, null: false
      t.timestamps
    end
    create_table :visits do |t|
      t.string :path, null: false
      t.timestamps
    end
  end
end
