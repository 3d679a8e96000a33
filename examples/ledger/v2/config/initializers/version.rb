module Ledger
  VERSION = "v2"
end
