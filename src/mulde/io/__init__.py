"""Files: atomic writes, feature files (.npy/.npz/.csv), content hashing, what a file is from
its first bytes (`sniff`). Depends on nothing else in mulde, so every layer may use it."""
