module Ledger
  VERSION = "v3"
end
