module Ledger
  VERSION = "v1"
end
