package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"
)

// pagingFlags are the flags of every list command. Without them a listing follows every
// page; with either, it shows one page and the token of the next.
type pagingFlags struct {
	PageSize  int32  `name:"page-size" placeholder:"N" env:"-" help:"Return one page of at most this many."`
	PageToken string `name:"page-token" placeholder:"TOKEN" env:"-" help:"Return the page after the one that gave this token."`
}

// listing runs a list command. page fetches one page; response wraps items as the list
// response message (field is its list's JSON name); table prints them.
func listing[T proto.Message](kctx *kong.Context, s *Session, paging pagingFlags, field string,
	page func(ctx context.Context, size int32, token string) ([]T, string, error),
	response func(items []T, next string) proto.Message,
	table func(io.Writer, []T) error,
) error {
	ctx, cancel := s.context()
	defer cancel()
	var (
		items []T
		next  string
	)
	given := flagsGiven(kctx)
	if given["page-size"] || given["page-token"] {
		var err error
		if items, next, err = page(ctx, paging.PageSize, paging.PageToken); err != nil {
			return err
		}
	} else {
		for token := ""; ; {
			got, more, err := page(ctx, listAllPageSize, token)
			if err != nil {
				return err
			}
			items = append(items, got...)
			if more == "" {
				break
			}
			token = more
		}
	}
	if s.structured() {
		return s.printList(response(items, next), field, len(items), next)
	}
	if err := table(s.Stdout, items); err != nil {
		return err
	}
	s.noteNextPage(next)
	return nil
}

// done reports a call that returns nothing: `{}` in JSON (the empty response), else a
// sentence for a person.
func (s *Session) done(resp proto.Message, format string, args ...any) error {
	if s.structured() {
		return s.print(resp)
	}
	_, err := fmt.Fprintf(s.Stdout, format+"\n", args...)
	return err
}

// childName accepts a child resource's id or its full name: `analysts` becomes
// `tenants/acme/groups/analysts` for tenant acme and collection groups.
func childName(tenant, collection, arg string) string {
	if strings.Contains(arg, "/") {
		return arg
	}
	return tenantName(tenant) + "/" + collection + "/" + arg
}

// parsePairs reads KEY=VALUE pairs of a repeatable flag. Checking the syntax here makes a
// typo a usage error; what keys and values may be is the server's business.
func parsePairs(flag string, pairs []string, example string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE, e.g. %s", flag, p, example)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s %q: %q is given twice", flag, p, k)
		}
		out[k] = v
	}
	return out, nil
}
