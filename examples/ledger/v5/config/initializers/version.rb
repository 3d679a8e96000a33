module Ledger
  VERSION = "v5"
end
