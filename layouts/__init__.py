"""Reference layouts shipped with chiplet-codesign (data only: TOML files and CSV power maps)."""
