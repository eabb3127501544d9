"""shuxiang's domain: one subpackage per area (network, accounts, ...), each with models, services and errors."""
