// Package clientapi is the node's EventStoreDB client API: the gRPC
// services the official EventStoreDB and KurrentDB clients call
// (event_store.client.streams.Streams, event_store.client.gossip.Gossip,
// event_store.client.server_features.ServerFeatures) and the JSON
// GET /gossip of the node's HTTP side, all served over the Node interface.
//
// The services translate; the node decides. Requests are validated and
// turned into the node's requests, answers into the protocol's messages,
// and every refusal into the status code and "exception" trailers the
// clients switch on (see errors.go for the table). Nothing here holds
// state between calls.
//
// Everything a call holds is bounded: reads ask the node for pages of at
// most Options.ReadPageSize events and send each page before asking for the
// next; subscriptions hold one message at a time (the node's subscription
// buffers); an append is refused as soon as its events pass the node's
// maximum append size; a BatchAppend call holds at most
// maxUnfinishedBatches partly received appends and maxBatchWritesInFlight
// appends waiting for the node.
package clientapi
