package server

import (
	"errors"
	"fmt"
)

// Closers is a stack of things to close at shutdown: what was opened last is closed
// first, so a worker never outlives the store it writes to.
type Closers struct {
	names []string
	fns   []func() error
}

// Push adds fn, to be called before everything pushed earlier.
func (c *Closers) Push(name string, fn func() error) {
	c.names = append(c.names, name)
	c.fns = append(c.fns, fn)
}

// Close calls every closer, last pushed first, and returns all their errors.
func (c *Closers) Close() error {
	var errs []error
	for i := len(c.fns) - 1; i >= 0; i-- {
		if err := c.fns[i](); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", c.names[i], err))
		}
	}
	c.names, c.fns = nil, nil
	return errors.Join(errs...)
}
