package selection

// RedisKey exposes the key layout to the tests of package selection_test, which check TTLs
// and damaged values on the keys themselves.
var RedisKey = redisKey
