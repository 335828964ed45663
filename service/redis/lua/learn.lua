-- learn.lua - learn, unlearn or add raw counts to a site's Bayes model
-- (bayesdb.c: the learn API, modgate learn, model import). The build puts
-- lib/bayes_change.lua in front.
--
-- KEYS[1] spam hash, KEYS[2] ham hash, KEYS[3] meta, KEYS[4] the
-- comment's doc key, KEYS[5] the event stream.
-- ARGV[1] "learn" | "unlearn" | "raw", ARGV[2] the label ("spam"/"ham";
-- learn only), ARGV[3] the tokenizer version, ARGV[4] the stream's MAXLEN,
-- then learn: the comment's token hashes (16 hex digits, distinct);
-- unlearn: none (the doc says which); raw: ARGV[5], ARGV[6] what to add to
-- nspam and nham, then triples (hash, spam delta, ham delta).
--
-- Returns {changed, nspam, nham, seq, label} with changed "learned",
-- "moved", "unchanged", "unlearned" or "raw" and label the comment's new
-- label (learn) or the one it had (unlearn; "" if none), or {"version", v}
-- when the model holds tokens of another tokenizer version v (nothing is
-- changed). Every change adds one entry to the event stream (seq + 1).

return bayes_change(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV, 5)
