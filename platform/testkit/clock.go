package testkit

import (
	"sync/atomic"
	"time"
)

// Clock is a test clock that starts at the real time and moves only when told.
//
// Services take their now as a func() time.Time; handing them Clock.Now lets a test
// make a deadline pass (a purge fall due, a token expire) without waiting for it, while
// times still look like the real ones to everything that cannot be given the clock (the
// database's own now(), a JWT's iat checked against the wall clock). The zero value is
// ready to use and safe for concurrent use.
type Clock struct{ offset atomic.Int64 }

// Now is the real time moved on by every Advance so far.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
