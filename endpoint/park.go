package endpoint

// BeginPark reports that a park service is taking over the established
// call: the call goes to Parking (reason ReasonParking) until EndPark. It
// returns ErrState unless the call is established. While parking, the call
// keeps its dialog and media; hold and transfer are refused.
func (c *Call) BeginPark() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != StateEstablished {
		return ErrState
	}
	c.setStateLocked(StateParking, ReasonParking)
	return nil
}

// EndPark ends what BeginPark began: the call is established again, with
// reason ReasonParked when err is nil (it waits on an orbit) and
// ReasonParkFailed otherwise. It does nothing unless the call is Parking.
func (c *Call) EndPark(err error) {
	r := ReasonParked
	if err != nil {
		r = ReasonParkFailed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateParking {
		c.setStateLocked(StateEstablished, r)
	}
}
