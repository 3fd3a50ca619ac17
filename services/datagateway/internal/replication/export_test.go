package replication

// SetSnapshotTableHook makes every snapshot call hook before it copies a table, until
// the returned function restores the previous hook.
func SetSnapshotTableHook(hook func(table string)) (restore func()) {
	old := testHookSnapshotTable
	testHookSnapshotTable = hook
	return func() { testHookSnapshotTable = old }
}

// WALWarning is the retained-WAL warning the engine writes ("" below threshold).
func WALWarning(retained, threshold int64) string { return walWarning(retained, threshold) }
