/* eval.h - `modgate eval`: train and test the Bayes filter in memory.
 *
 *   modgate eval --train A.jsonl[,B.jsonl] --test C.jsonl [--scores OUT.jsonl]
 *                [--threshold T] [--min-learns N]
 *
 * Runs the very tokenizer and classifier that /v1/check runs, over files
 * in the corpus format (one JSON object a line with "id", "label" spam or
 * ham, "body" and optionally "author"), and prints one JSON object with
 * the accuracy figures and the speed of learning and classifying. No
 * Redis, no network. */
#ifndef MODGATE_EVAL_H
#define MODGATE_EVAL_H

/* argv[0] is "eval". Returns the process exit code (0, or 2 on bad usage
 * or unreadable input, with the reason on stderr). */
int eval_main(int argc, char **argv);

/* modgate model build [--balanced] [--name NAME] FILES...: learn the
 * corpus files (comma-separated or several arguments) into a model in
 * memory and print it to stdout in `modgate model export`'s format (a
 * header, then one line per token in hash order; no learned comments, so
 * `model import` adds it as raw counts). --balanced: each "source" of the
 * files carries equal weight within each class, by an integer factor per
 * source and class (the header's "sources" lists them). argv[0] is
 * "build". Returns 0, 1 (stdout failed) or 2 (bad usage or input). */
int eval_model_build(int argc, char **argv);

#endif
