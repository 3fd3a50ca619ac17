package commands

import (
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

// RegionsCmd is `oriel regions`.
type RegionsCmd struct {
	ClientFlags `embed:""`

	List RegionsListCmd `cmd:"" help:"List the regions tenants can be created in."`
}

// RegionsListCmd is `oriel regions list`.
type RegionsListCmd struct{}

// Run lists the region catalog.
func (c *RegionsListCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.ListRegions(ctx, &tenantv1.ListRegionsRequest{})
	if err != nil {
		return err
	}
	if s.structured() {
		return s.printList(resp, "regions", len(resp.GetRegions()), "")
	}
	return printRegionTable(s.Stdout, resp.GetRegions())
}
