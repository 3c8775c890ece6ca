/* svc.h pick mode: exact balancer results through the C API (round-robin,
 * consistent hashing, least connections, latency), retries that never repeat
 * a tried peer, weight 0, empty upstreams, peer hosts. */
#include "harness.h"

/* Index of "ip:port" in names, or -1. */
static int index_of(const char *peer, const char *const *names, int n) {
  for (int i = 0; i < n; ++i)
    if (strcmp(peer, names[i]) == 0) return i;
  return -1;
}

static void peer_of(const svc_request *r, char *out, size_t cap) {
  snprintf(out, cap, "%s:%d", svc_request_peer_ip(r) ? svc_request_peer_ip(r) : "(null)",
           svc_request_peer_port(r));
}

static void test_round_robin(void) {
  static const char *const names[] = {"10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"};
  svc_engine *e = new_engine(NULL);
  char peer[64];
  int total[3] = {0, 0, 0};
  int cycle_ok = 1, unknown = 0;
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"rr\"}"));
  REQUIRE_OK(svc_target_add(e, "rr", "10.0.0.1", 100));
  REQUIRE_OK(svc_target_add(e, "rr", "10.0.0.2", 50));
  REQUIRE_OK(svc_target_add(e, "rr", "10.0.0.3", 50));

  SECTION("RoundRobin.Weights100_50_50AreExactly2_1_1PerCycleOf4");
  for (int cycle = 0; cycle < 100; ++cycle) {
    int count[3] = {0, 0, 0};
    for (int k = 0; k < 4; ++k) {
      int i;
      if (pick_once(e, "rr", peer, sizeof peer) != 0) {
        ++unknown;
        continue;
      }
      i = index_of(peer, names, 3);
      if (i < 0) {
        ++unknown;
        continue;
      }
      ++count[i];
      ++total[i];
    }
    if (count[0] != 2 || count[1] != 1 || count[2] != 1) {
      if (cycle_ok) printf("     cycle %d: %d/%d/%d\n", cycle, count[0], count[1], count[2]);
      cycle_ok = 0;
    }
  }
  CHECK_INT(unknown, 0);
  CHECK(cycle_ok);
  SECTION("RoundRobin.Over400Picks");
  CHECK_INT(total[0], 200);
  CHECK_INT(total[1], 100);
  CHECK_INT(total[2], 100);

  SECTION("RoundRobin.RetryNeverRepeatsTriedPeer");
  for (int n = 0; n < 8; ++n) { /* from several cursor positions */
    svc_request *r = new_request(e);
    int seen[3] = {0, 0, 0};
    CHECK_OK(svc_set_upstream(r, "rr"));
    for (int k = 0; k < 3; ++k) {
      int i;
      CHECK_OK(svc_request_pick(r));
      peer_of(r, peer, sizeof peer);
      i = index_of(peer, names, 3);
      CHECK(i >= 0);
      if (i >= 0) {
        CHECK_INT(seen[i], 0);
        seen[i] = 1;
      }
      CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
    }
    /* every peer tried: a further retry may repeat one, but still succeeds */
    CHECK_OK(svc_request_pick(r));
    peer_of(r, peer, sizeof peer);
    CHECK(index_of(peer, names, 3) >= 0);
    CHECK_INT(svc_request_tries(r), 4);
    svc_request_free(r);
  }
  svc_engine_free(e);
}

static void test_weight_zero_and_empty(void) {
  static const char *const algorithms[] = {"round-robin", "consistent-hashing", "least-connections", "latency"};
  svc_engine *e = new_engine(NULL);
  char entity[128], peer[64];
  svc_request *r;

  for (int a = 0; a < 4; ++a) {
    SECTION(algorithms[a]);
    snprintf(entity, sizeof entity, "{\"name\": \"w%d\", \"algorithm\": \"%s\"}", a, algorithms[a]);
    REQUIRE_OK(svc_upstream_upsert(e, entity));
    snprintf(entity, sizeof entity, "w%d", a);

    /* WeightZero.NoTargets / OnlyWeightZero: no peer at all */
    r = new_request(e);
    CHECK_OK(svc_set_upstream(r, entity));
    CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
    svc_request_free(r);
    REQUIRE_OK(svc_target_add(e, entity, "10.0.0.9", 0));
    r = new_request(e);
    CHECK_OK(svc_set_upstream(r, entity));
    CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
    CHECK_INT(svc_request_tries(r), 0);
    svc_request_free(r);

    /* WeightZero.NeverPicked, also not on retries */
    REQUIRE_OK(svc_target_add(e, entity, "10.0.0.1", 100));
    REQUIRE_OK(svc_target_add(e, entity, "10.0.0.2", 100));
    for (int k = 0; k < 50; ++k) {
      CHECK(pick_once(e, entity, peer, sizeof peer) == 0);
      CHECK(strcmp(peer, "10.0.0.9:8000") != 0);
    }
    r = new_request(e);
    CHECK_OK(svc_set_upstream(r, entity));
    CHECK_OK(svc_set_hash_key(r, "k", 1));
    for (int k = 0; k < 6; ++k) {
      if (a == 3 && k == 2) {
        /* Latency ends the retries once both usable peers were tried (Kong). */
        CHECK_ERR(svc_request_pick(r), SVC_ENOPEER, "failure to get a peer from the ring-balancer");
        break;
      }
      CHECK_OK(svc_request_pick(r));
      peer_of(r, peer, sizeof peer);
      CHECK(strcmp(peer, "10.0.0.9:8000") != 0);
      CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
    }
    svc_request_free(r);
  }
  svc_engine_free(e);
}

static void test_consistent_hashing(void) {
  static const char *const names[] = {"10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000", "10.0.0.4:8000"};
  svc_engine *e = new_engine(NULL);
  char key[32], first[64], peer[64];
  int used[4] = {0, 0, 0, 0};
  int distinct = 0;
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"ch\", \"algorithm\": \"consistent-hashing\"}"));
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"hdr\", \"hash_on\": \"header\", \"hash_on_header\": \"x-user\"}"));
  for (int i = 0; i < 4; ++i) {
    REQUIRE_OK(svc_target_add(e, "ch", names[i], 100));
    REQUIRE_OK(svc_target_add(e, "hdr", names[i], 100));
  }

  SECTION("ConsistentHashing.SameKeySamePeer");
  for (int k = 0; k < 40; ++k) {
    int i;
    snprintf(key, sizeof key, "user-%d", k);
    first[0] = '\0';
    for (int n = 0; n < 5; ++n) {
      svc_request *r = new_request(e);
      CHECK_OK(svc_set_upstream(r, "ch"));
      CHECK_OK(svc_set_hash_key(r, key, strlen(key)));
      CHECK_OK(svc_request_pick(r));
      peer_of(r, peer, sizeof peer);
      if (n == 0) {
        snprintf(first, sizeof first, "%s", peer);
      } else {
        CHECK_STR(peer, first);
      }
      CHECK_OK(svc_request_report(r, SVC_OUTCOME_OK, 0, 0));
      svc_request_free(r);
    }
    i = index_of(first, names, 4);
    CHECK(i >= 0);
    if (i >= 0) used[i] = 1;
  }
  for (int i = 0; i < 4; ++i) distinct += used[i];
  CHECK(distinct >= 2); /* 40 keys do not all land on one of 4 equal targets */

  SECTION("ConsistentHashing.RetryMovesToAnUntriedPeer");
  for (int k = 0; k < 10; ++k) {
    svc_request *r = new_request(e);
    int seen[4] = {0, 0, 0, 0};
    snprintf(key, sizeof key, "retry-%d", k);
    CHECK_OK(svc_set_upstream(r, "ch"));
    CHECK_OK(svc_set_hash_key(r, key, strlen(key)));
    for (int n = 0; n < 4; ++n) {
      int i;
      CHECK_OK(svc_request_pick(r));
      peer_of(r, peer, sizeof peer);
      i = index_of(peer, names, 4);
      CHECK(i >= 0);
      if (i >= 0) {
        CHECK_INT(seen[i], 0);
        seen[i] = 1;
      }
      CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
    }
    svc_request_free(r);
  }

  SECTION("ConsistentHashing.HashKeyEqualsHashOnHeader");
  for (int k = 0; k < 20; ++k) {
    svc_request *a = new_request(e), *b = new_request(e), *c = new_request(e);
    char pa[64], pb[64], pc[64];
    snprintf(key, sizeof key, "alice-%d", k);
    CHECK_OK(svc_set_upstream(a, "hdr"));
    CHECK_OK(svc_request_set_hash_input(a, SVC_HASH_HEADER, "X-User", key)); /* names are case-insensitive */
    CHECK_OK(svc_request_pick(a));
    CHECK_OK(svc_set_upstream(b, "hdr"));
    CHECK_OK(svc_set_hash_key(b, key, strlen(key)));
    CHECK_OK(svc_request_pick(b));
    /* svc_set_hash_key overrides hash_on */
    CHECK_OK(svc_set_upstream(c, "hdr"));
    CHECK_OK(svc_request_set_hash_input(c, SVC_HASH_HEADER, "x-user", "someone else"));
    CHECK_OK(svc_set_hash_key(c, key, strlen(key)));
    CHECK_OK(svc_request_pick(c));
    peer_of(a, pa, sizeof pa);
    peer_of(b, pb, sizeof pb);
    peer_of(c, pc, sizeof pc);
    CHECK_STR(pa, pb);
    CHECK_STR(pc, pb);
    svc_request_free(a);
    svc_request_free(b);
    svc_request_free(c);
  }
  svc_engine_free(e);
}

static void test_least_connections(void) {
  svc_engine *e = new_engine(NULL);
  svc_request *held[5];
  char peer[64];
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"lc\", \"algorithm\": \"least-connections\"}"));
  REQUIRE_OK(svc_target_add(e, "lc", "10.0.0.1", 100));
  REQUIRE_OK(svc_target_add(e, "lc", "10.0.0.2", 30));

  /* Kong's key (connections + 1) / weight, lowest first:
   * A 1/100, 2/100, 3/100 < B 1/30 < A 4/100. */
  SECTION("LeastConnections.HeaviestFirstThenBalanced");
  for (int i = 0; i < 5; ++i) {
    held[i] = new_request(e);
    CHECK_OK(svc_set_upstream(held[i], "lc"));
    CHECK_OK(svc_request_pick(held[i]));
  }
  CHECK_STR(svc_request_peer_ip(held[0]), "10.0.0.1");
  CHECK_STR(svc_request_peer_ip(held[1]), "10.0.0.1");
  CHECK_STR(svc_request_peer_ip(held[2]), "10.0.0.1");
  CHECK_STR(svc_request_peer_ip(held[3]), "10.0.0.2");
  CHECK_STR(svc_request_peer_ip(held[4]), "10.0.0.1"); /* A 4/100 = 0.04 < B 2/30 */

  SECTION("LeastConnections.ReportsReleaseConnections");
  /* now A has 4, B has 1: release A three times -> A 1 (2/100) beats B (2/30) */
  CHECK_OK(svc_request_report(held[0], SVC_OUTCOME_OK, 0, 0));
  CHECK_OK(svc_request_report(held[1], SVC_OUTCOME_OK, 0, 0));
  CHECK_OK(svc_request_report(held[2], SVC_OUTCOME_OK, 0, 0));
  CHECK(pick_once(e, "lc", peer, sizeof peer) == 0);
  CHECK_STR(peer, "10.0.0.1:8000");
  /* releasing B (report) and A by freeing the request with its pending try */
  CHECK_OK(svc_request_report(held[3], SVC_OUTCOME_OK, 0, 0));
  svc_request_free(held[4]);
  held[4] = NULL;
  /* idle again: A, A, A, B as from the start */
  {
    svc_request *again[4];
    for (int i = 0; i < 4; ++i) {
      again[i] = new_request(e);
      CHECK_OK(svc_set_upstream(again[i], "lc"));
      CHECK_OK(svc_request_pick(again[i]));
    }
    CHECK_STR(svc_request_peer_ip(again[0]), "10.0.0.1");
    CHECK_STR(svc_request_peer_ip(again[1]), "10.0.0.1");
    CHECK_STR(svc_request_peer_ip(again[2]), "10.0.0.1");
    CHECK_STR(svc_request_peer_ip(again[3]), "10.0.0.2");
    for (int i = 0; i < 4; ++i) svc_request_free(again[i]);
  }
  for (int i = 0; i < 5; ++i) svc_request_free(held[i]);

  SECTION("LeastConnections.RetryTakesTheUntriedPeer");
  {
    svc_request *r = new_request(e);
    CHECK_OK(svc_set_upstream(r, "lc"));
    CHECK_OK(svc_request_pick(r));
    CHECK_STR(svc_request_peer_ip(r), "10.0.0.1");
    CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
    CHECK_OK(svc_request_pick(r));
    CHECK_STR(svc_request_peer_ip(r), "10.0.0.2");
    CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
    CHECK_OK(svc_request_pick(r)); /* both tried: the best again */
    CHECK_STR(svc_request_peer_ip(r), "10.0.0.1");
    svc_request_free(r);
  }
  svc_engine_free(e);
}

static void test_latency(void) {
  static const char *const names[] = {"10.0.0.1:8000", "10.0.0.2:8000"};
  svc_engine *e = new_engine(NULL);
  char peer[64];
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"lat\", \"algorithm\": \"latency\"}"));
  REQUIRE_OK(svc_target_add(e, "lat", names[0], 100));
  REQUIRE_OK(svc_target_add(e, "lat", names[1], 100));
  SECTION("Latency.PicksKnownPeersAndRetriesElsewhere");
  for (int k = 0; k < 20; ++k) {
    svc_request *r = new_request(e);
    char first[64];
    CHECK_OK(svc_set_upstream(r, "lat"));
    CHECK_OK(svc_request_pick(r));
    peer_of(r, first, sizeof first);
    CHECK(index_of(first, names, 2) >= 0);
    CHECK_OK(svc_request_report(r, SVC_OUTCOME_OK, 0, 1000));
    CHECK_OK(svc_request_pick(r));
    peer_of(r, peer, sizeof peer);
    CHECK(index_of(peer, names, 2) >= 0);
    CHECK(strcmp(peer, first) != 0);
    CHECK_OK(svc_request_report(r, SVC_OUTCOME_OK, 0, 1000));
    svc_request_free(r);
  }
  svc_engine_free(e);
}

static void test_peer_host(void) {
  svc_engine *e = new_engine(NULL);
  svc_request *r;
  SECTION("PeerHost.TargetHostnameOrIp");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"named\"}"));
  REQUIRE_OK(svc_target_add(e, "named", "localhost:8081", 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "named"));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "127.0.0.1");
  CHECK_INT(svc_request_peer_port(r), 8081);
  CHECK_STR(svc_request_peer_host(r), "localhost");
  svc_request_free(r);

  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"ip\"}"));
  REQUIRE_OK(svc_target_add(e, "ip", "10.0.0.1:81", 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "ip"));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_host(r), "10.0.0.1");
  svc_request_free(r);

  SECTION("PeerHost.Ipv6Target");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"v6\"}"));
  REQUIRE_OK(svc_target_add(e, "v6", "[::1]:8443", 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "v6"));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "::1");
  CHECK_INT(svc_request_peer_port(r), 8443);
  CHECK(svc_request_peer_host(r) != NULL);
  svc_request_free(r);

  SECTION("PeerHost.HostHeaderWithoutPort");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"hh\", \"host_header\": \"localhost:8443\"}"));
  REQUIRE_OK(svc_target_add(e, "hh", "10.0.0.1", 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "hh"));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.1");
  CHECK_STR(svc_request_peer_host(r), "localhost");
  svc_request_free(r);
  svc_engine_free(e);
}

static void test_upstream_changes_under_a_request(void) {
  svc_engine *e = new_engine(NULL);
  svc_request *r;
  SECTION("Pick.FollowsTargetChanges");
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"a\"}"));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.1", 100));
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "a"));
  REQUIRE_OK(svc_target_delete(e, "a", "10.0.0.1"));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.2", 100));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.2");
  svc_request_free(r);

  SECTION("Pick.UpstreamDeletedAfterSetUpstream");
  r = new_request(e);
  CHECK_OK(svc_set_upstream(r, "a"));
  REQUIRE_OK(svc_upstream_delete(e, "a"));
  {
    /* svc.h: "SVC_ECLOSED when the engine or upstream is gone"; see the
     * report: the implementation answers SVC_ENOTFOUND. Either is an error. */
    svc_error *err = svc_request_pick(r);
    CHECK(err != NULL);
    if (err) {
      CHECK(svc_error_code(err) == SVC_ECLOSED || svc_error_code(err) == SVC_ENOTFOUND);
      printf("     note: pick on a deleted upstream: %s \"%s\"\n", svc_code_name(svc_error_code(err)),
             svc_error_message(err));
    }
    svc_error_free(err);
  }
  CHECK_INT(svc_request_tries(r), 0);
  /* a new upstream of that name is followed */
  REQUIRE_OK(svc_upstream_upsert(e, "{\"name\": \"a\"}"));
  REQUIRE_OK(svc_target_add(e, "a", "10.0.0.3", 100));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "10.0.0.3");
  svc_request_free(r);
  svc_engine_free(e);
}

int main(void) {
  test_round_robin();
  test_weight_zero_and_empty();
  test_consistent_hashing();
  test_least_connections();
  test_latency();
  test_peer_host();
  test_upstream_changes_under_a_request();
  HARNESS_END();
}
