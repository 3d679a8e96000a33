module Ledger
  VERSION = "v4"
end
