package replication

// SetSnapshotTableHook makes every snapshot call hook before it copies a table, until
// the returned function restores the previous hook.
func SetSnapshotTableHook(hook func(table string)) (restore func()) {
	old := testHookSnapshotTable
	testHookSnapshotTable = hook
	return func() { testHookSnapshotTable = old }
}
