package state

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func webhook(url string) Receiver {
	return Receiver{Kind: KindWebhook, Webhook: &WebhookReceiver{URL: url, Timeout: 5 * time.Second}}
}

// normal gives times one location, so that DeepEqual compares instants.
func normal(r Route) Route {
	r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
	return r
}

// A receiver of a kind written by a later program reads back, and is
// refused when written.
func TestRouteUnknownKind(t *testing.T) {
	db := openTest(t, Options{})
	err := db.update(func(txn *bolt.Tx) error {
		return txn.Bucket(bucketRoutes).Put([]byte("later"), []byte(`{"name":"later","receivers":[{"kind":"pager","pager":{"number":"1"}}]}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Route("later")
	if err != nil || len(r.Receivers) != 1 || r.Receivers[0].Kind != "pager" {
		t.Fatalf("route of a later kind = %+v, %v", r, err)
	}
	if err := db.PutRoute(r); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutRoute of an unknown kind = %v, want ErrInvalid", err)
	}
}
