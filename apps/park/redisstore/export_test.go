package redisstore

// Crash stops the store as a killed node would: no more heartbeats, the
// heartbeat key left to expire, the connections dropped.
func (s *Store) Crash() {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		_ = s.rdb.Close()
	})
}
