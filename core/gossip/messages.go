package gossip

import (
	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/wire"
)

// Wire kinds of gossip messages.
const (
	KindUpdateRequest wire.Kind = 10
	KindClusterInfo   wire.Kind = 11
)

func init() {
	wire.Register(KindUpdateRequest, "gossip.UpdateRequest", func() wire.Message { return &UpdateRequest{} })
	wire.Register(KindClusterInfo, "gossip.ClusterInfo", func() wire.Message { return &ClusterInfo{} })
}

// UpdateRequest carries the sender's whole view and its own node endpoint.
type UpdateRequest struct {
	View   []member.Info
	Server env.Endpoint
}

func (*UpdateRequest) Kind() wire.Kind { return KindUpdateRequest }

func (u *UpdateRequest) Encode(e *wire.Encoder) {
	member.EncodeView(e, u.View)
	member.EncodeEndpoint(e, u.Server)
}

func (u *UpdateRequest) Decode(d *wire.Decoder) {
	u.View = member.DecodeView(d, "view")
	u.Server = member.DecodeEndpoint(d, "server")
}

// Marshal encodes the request.
func (u UpdateRequest) Marshal() []byte { return wire.Marshal(&u) }

// Unmarshal decodes b into u.
func (u *UpdateRequest) Unmarshal(b []byte) error { return wire.UnmarshalInto(b, u) }

// ClusterInfo is a whole view, the answer to Update and Read.
type ClusterInfo struct {
	View []member.Info
}

func (*ClusterInfo) Kind() wire.Kind { return KindClusterInfo }

func (c *ClusterInfo) Encode(e *wire.Encoder) { member.EncodeView(e, c.View) }

func (c *ClusterInfo) Decode(d *wire.Decoder) { c.View = member.DecodeView(d, "view") }

// Marshal encodes the view.
func (c ClusterInfo) Marshal() []byte { return wire.Marshal(&c) }

// Unmarshal decodes b into c.
func (c *ClusterInfo) Unmarshal(b []byte) error { return wire.UnmarshalInto(b, c) }
