package client

import (
	"context"
	"iter"
	"net/url"
	"strconv"
)

// allPages yields every item of a listing, page by page from token start, asking fetch for
// each page. It stops at the first error, which it yields.
func allPages[T any](ctx context.Context, start string, fetch func(ctx context.Context, token string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		token := start
		for {
			items, next, err := fetch(ctx, token)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range items {
				if !yield(item, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}

// pageQuery is the query of a list call: page size and token, when set.
func pageQuery(size int32, token string) url.Values {
	q := url.Values{}
	setIf(q, "pageToken", token)
	if size != 0 {
		q.Set("pageSize", strconv.Itoa(int(size)))
	}
	return q
}
