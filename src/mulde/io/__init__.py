"""Files: atomic writes, feature files (.npy/.npz/.csv), content hashing. Depends on nothing
else in mulde, so every layer may use it."""
