package engine

import (
	"fmt"
	"sync"
	"testing"
)

func TestConcurrentQueriesAgreeWithSequentialOnes(t *testing.T) {
	m := starModel(t)
	want := answers(t, m)
	shared := mustSelect(t, m.View(), Selection{"category", []string{"Fruit"}}, Selection{"region", []string{"North"}})
	sharedWant := fmt.Sprint(listed(t, shared, "category", FieldQuery{}), listed(t, shared, "region", FieldQuery{}))
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g%2 == 0 {
				if got := answers(t, m); got != want {
					errs <- "answers differ under concurrency"
				}
				return
			}
			// Odd goroutines race on one state's lazily computed alternatives.
			got := fmt.Sprint(listed(t, shared, "region", FieldQuery{}), listed(t, shared, "category", FieldQuery{}))
			if exp := fmt.Sprint(listed(t, shared, "region", FieldQuery{}), listed(t, shared, "category", FieldQuery{})); got != exp {
				errs <- "a shared state answered differently"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := fmt.Sprint(listed(t, shared, "category", FieldQuery{}), listed(t, shared, "region", FieldQuery{})); got != sharedWant {
		t.Errorf("got %s, want %s", got, sharedWant)
	}
}
