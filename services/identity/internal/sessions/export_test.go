package sessions

// MemoryEntries counts what a memory store holds, so tests can see the sweep free it.
func MemoryEntries(s Store) (sessions, userIndexes, jtis int) {
	m := s.(*memory)
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions), len(m.users), len(m.jtis)
}

// SweepEvery exposes the memory store's sweep interval to tests.
const SweepEvery = sweepEvery
