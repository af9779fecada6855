/* SPDX-License-Identifier: MIT */
/* Tests for lib/auth.c: token file parsing (good files, each kind of bad line with its line
 * number, and that a message never echoes a token), scopes with admin implying write implying
 * read, "Authorization: Bearer" parsing, and the constant-time comparison's results. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

#define T_READ "read-token_0123456789"
#define T_WRITE "write.token~abcdefghij"
#define T_ADMIN "admin+token/ABCDEFGHIJ=="
#define T_BOTH "both-read-and-write-0001"

static char tmpdir[4096];
static char tok_path[4096 + 32];
static char err[8192];

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/check_auth.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(tok_path, sizeof(tok_path), "%s/tokens", tmpdir);
    err[0] = '\0';
}

static void teardown(void)
{
    unlink(tok_path);
    rmdir(tmpdir);
}

/* Token files are secrets: written 0600, as an operator should. */
static void write_tokens(const char *text)
{
    int fd = open(tok_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ck_assert_int_eq(close(fd), 0);
}

static struct fleet_tokens *load_ok(const char *text)
{
    struct fleet_tokens *t = (struct fleet_tokens *)1;
    write_tokens(text);
    enum fleet_err rc = fleet_tokens_load(tok_path, &t, err, sizeof(err));
    ck_assert_msg(rc == FLEET_OK, "%s: %s", fleet_strerror(rc), err);
    ck_assert_ptr_nonnull(t);
    return t;
}

#define RW (FLEET_SCOPE_READ | FLEET_SCOPE_WRITE)
#define RWA (FLEET_SCOPE_READ | FLEET_SCOPE_WRITE | FLEET_SCOPE_ADMIN)

START_TEST(test_load_and_scopes)
{
    struct fleet_tokens *t =
        load_ok("# tinyfleet tokens\n"
                "\n" T_READ " read\n"
                "   " T_WRITE "\twrite   # the CI job\n" T_ADMIN " admin\r\n" T_BOTH " read write\n"
                "  # indented comment\n");
    ck_assert_uint_eq(fleet_tokens_count(t), 4);
    ck_assert_uint_eq(fleet_tokens_scopes(t, T_READ), FLEET_SCOPE_READ);
    ck_assert_uint_eq(fleet_tokens_scopes(t, T_WRITE), RW);
    ck_assert_uint_eq(fleet_tokens_scopes(t, T_ADMIN), RWA);
    ck_assert_uint_eq(fleet_tokens_scopes(t, T_BOTH), RW);
    fleet_tokens_free(t);
}
END_TEST

START_TEST(test_scope_implication)
{
    /* admin alone grants everything, write alone grants read, read grants only read. */
    struct fleet_tokens *t = load_ok("aaaaaaaaaaaaaaaa admin\n"
                                     "bbbbbbbbbbbbbbbb write\n"
                                     "cccccccccccccccc read\n"
                                     "dddddddddddddddd read admin\n");
    unsigned a = fleet_tokens_scopes(t, "aaaaaaaaaaaaaaaa");
    unsigned w = fleet_tokens_scopes(t, "bbbbbbbbbbbbbbbb");
    unsigned r = fleet_tokens_scopes(t, "cccccccccccccccc");
    ck_assert_uint_eq(a & FLEET_SCOPE_ADMIN, FLEET_SCOPE_ADMIN);
    ck_assert_uint_eq(a & FLEET_SCOPE_WRITE, FLEET_SCOPE_WRITE);
    ck_assert_uint_eq(a & FLEET_SCOPE_READ, FLEET_SCOPE_READ);
    ck_assert_uint_eq(w, RW);
    ck_assert_uint_eq(r, FLEET_SCOPE_READ);
    ck_assert_uint_eq(fleet_tokens_scopes(t, "dddddddddddddddd"), RWA);
    fleet_tokens_free(t);
}
END_TEST

START_TEST(test_unknown_tokens)
{
    struct fleet_tokens *t = load_ok(T_READ " read\n" T_ADMIN " admin\n");
    ck_assert_uint_eq(fleet_tokens_scopes(t, NULL), FLEET_SCOPE_NONE);
    ck_assert_uint_eq(fleet_tokens_scopes(t, ""), FLEET_SCOPE_NONE);
    ck_assert_uint_eq(fleet_tokens_scopes(t, "nope"), FLEET_SCOPE_NONE);
    /* A prefix, an extension, one changed byte, another case: all unknown. */
    ck_assert_uint_eq(fleet_tokens_scopes(t, "read-token_012345678"), FLEET_SCOPE_NONE);
    ck_assert_uint_eq(fleet_tokens_scopes(t, T_READ "0"), FLEET_SCOPE_NONE);
    ck_assert_uint_eq(fleet_tokens_scopes(t, "read-token_0123456780"), FLEET_SCOPE_NONE);
    ck_assert_uint_eq(fleet_tokens_scopes(t, "READ-TOKEN_0123456789"), FLEET_SCOPE_NONE);
    ck_assert_uint_eq(fleet_tokens_scopes(t, "admin+token/ABCDEFGHIJ="), FLEET_SCOPE_NONE);
    fleet_tokens_free(t);
}
END_TEST

START_TEST(test_empty)
{
    struct fleet_tokens *t = fleet_tokens_new_empty();
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(fleet_tokens_count(t), 0);
    ck_assert_uint_eq(fleet_tokens_scopes(t, T_READ), FLEET_SCOPE_NONE);
    fleet_tokens_free(t);
    fleet_tokens_free(NULL);
    ck_assert_uint_eq(fleet_tokens_count(NULL), 0);
    ck_assert_uint_eq(fleet_tokens_scopes(NULL, T_READ), FLEET_SCOPE_NONE);

    /* A file with only comments is valid and grants nothing. */
    t = load_ok("# no tokens yet\n\n");
    ck_assert_uint_eq(fleet_tokens_count(t), 0);
    ck_assert_uint_eq(fleet_tokens_scopes(t, T_READ), FLEET_SCOPE_NONE);
    fleet_tokens_free(t);
}
END_TEST

struct bad_line {
    const char *line;   /* appended as line 3 after a comment and a good token */
    const char *needle; /* expected in the message */
    const char *secret; /* must not appear in the message, or NULL */
};

static const struct bad_line bads[] = {
    {"shorttoken12345 read", "at least 16", "shorttoken12345"},
    {"aaaaaaaaaaaaaaaa", "no scope", "aaaaaaaaaaaaaaaa"},
    {"aaaaaaaaaaaaaaaa # read", "no scope", "aaaaaaaaaaaaaaaa"},
    {"aaaaaaaaaaaaaaaa reader", "unknown scope \"reader\"", "aaaaaaaaaaaaaaaa"},
    {"aaaaaaaaaaaaaaaa read Write", "unknown scope \"Write\"", "aaaaaaaaaaaaaaaa"},
    {"aaaaaaaaaaaaaaaa read,write", "unknown scope", "aaaaaaaaaaaaaaaa"},
    {"aaaaaaaa\"aaaaaaaa read", "b64token", "aaaaaaaa"},
    {"aaaaaaaa=aaaaaaaa read", "b64token", "aaaaaaaa"},
    {"=aaaaaaaaaaaaaaaa read", "b64token", "aaaaaaaa"},
    {"aaaaaaaaaaaaaaaa\xc3\xa9 read", "b64token", "aaaaaaaa"},
    {T_READ " write", "duplicate token (first on line 2)", T_READ},
};

START_TEST(test_bad_line)
{
    const struct bad_line *b = &bads[_i];
    struct fleet_tokens *t = (struct fleet_tokens *)1;
    char *text;
    char prefix[4096 + 64];

    ck_assert_int_ge(asprintf(&text, "# tokens\n" T_READ " read\n%s\n" T_ADMIN " admin\n", b->line),
                     0);
    write_tokens(text);
    free(text);
    ck_assert_int_eq(fleet_tokens_load(tok_path, &t, err, sizeof(err)), FLEET_ERR_INVAL);
    ck_assert_ptr_null(t);
    snprintf(prefix, sizeof(prefix), "%s:3: ", tok_path);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "expected \"%s...\", got \"%s\"",
                  prefix, err);
    ck_assert_msg(strstr(err, b->needle) != NULL, "\"%s\" not in \"%s\"", b->needle, err);
    if (b->secret)
        ck_assert_msg(strstr(err + strlen(prefix), b->secret) == NULL, "token leaked: \"%s\"", err);
}
END_TEST

START_TEST(test_file_errors)
{
    struct fleet_tokens *t = (struct fleet_tokens *)1;
    char missing[4096 + 64];
    snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
    ck_assert_int_eq(fleet_tokens_load(missing, &t, err, sizeof(err)), FLEET_ERR_IO);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(err, missing));

    /* A NUL byte would otherwise cut a token short; line 2 is reported. */
    static const char nul[] = T_READ " read\naaaaaaaaaaaaaaaa\0aaaa read\n";
    int fd = open(tok_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, nul, sizeof(nul) - 1), (ssize_t)(sizeof(nul) - 1));
    close(fd);
    ck_assert_int_eq(fleet_tokens_load(tok_path, &t, err, sizeof(err)), FLEET_ERR_INVAL);
    ck_assert_ptr_nonnull(strstr(err, ":2: "));
}
END_TEST

START_TEST(test_bearer)
{
    const char *h;

    h = "Bearer " T_READ;
    ck_assert_ptr_eq(fleet_bearer_token(h), h + 7);
    h = "bearer    " T_ADMIN;
    ck_assert_ptr_eq(fleet_bearer_token(h), h + 10);
    h = "BEARER abc";
    ck_assert_ptr_eq(fleet_bearer_token(h), h + 7);
    h = "BeArEr a.b-c_d~e+f/g==";
    ck_assert_str_eq(fleet_bearer_token(h), "a.b-c_d~e+f/g==");

    ck_assert_ptr_null(fleet_bearer_token(NULL));
    ck_assert_ptr_null(fleet_bearer_token(""));
    ck_assert_ptr_null(fleet_bearer_token("Bearer"));
    ck_assert_ptr_null(fleet_bearer_token("Bearer "));
    ck_assert_ptr_null(fleet_bearer_token("Bearer    "));
    ck_assert_ptr_null(fleet_bearer_token("Bearerabc"));
    ck_assert_ptr_null(fleet_bearer_token("Bearer\tabc"));
    ck_assert_ptr_null(fleet_bearer_token("Basic dXNlcjpwYXNz"));
    ck_assert_ptr_null(fleet_bearer_token("Bearer abc def"));
    ck_assert_ptr_null(fleet_bearer_token("Bearer abc "));
    ck_assert_ptr_null(fleet_bearer_token("Bearer =abc"));
    ck_assert_ptr_null(fleet_bearer_token("Bearer a=b"));
    ck_assert_ptr_null(fleet_bearer_token("Bearer a,b"));
    ck_assert_ptr_null(fleet_bearer_token("Bearer a\r\nX-Evil: 1"));

    /* The extracted token is what the scope lookup expects. */
    struct fleet_tokens *t = load_ok(T_WRITE " write\n");
    ck_assert_uint_eq(fleet_tokens_scopes(t, fleet_bearer_token("Bearer " T_WRITE)), RW);
    ck_assert_uint_eq(fleet_tokens_scopes(t, fleet_bearer_token("Bearer " T_WRITE "x")),
                      FLEET_SCOPE_NONE);
    ck_assert_uint_eq(fleet_tokens_scopes(t, fleet_bearer_token("Token " T_WRITE)),
                      FLEET_SCOPE_NONE);
    fleet_tokens_free(t);
}
END_TEST

START_TEST(test_ct_equal)
{
    ck_assert_int_eq(fleet_ct_equal("abc", 3, "abc", 3), 1);
    ck_assert_int_eq(fleet_ct_equal("", 0, "", 0), 1);
    ck_assert_int_eq(fleet_ct_equal(NULL, 0, NULL, 0), 1);
    ck_assert_int_eq(fleet_ct_equal("abc", 3, "abd", 3), 0);
    ck_assert_int_eq(fleet_ct_equal("abc", 3, "xbc", 3), 0);
    ck_assert_int_eq(fleet_ct_equal("abc", 3, "ab", 2), 0);
    ck_assert_int_eq(fleet_ct_equal("ab", 2, "abc", 3), 0);
    ck_assert_int_eq(fleet_ct_equal("", 0, "a", 1), 0);
    ck_assert_int_eq(fleet_ct_equal("a", 1, "", 0), 0);
    /* A string equal to a repeated prefix of a must not match (a is indexed within alen). */
    ck_assert_int_eq(fleet_ct_equal("a", 1, "aa", 2), 0);
    ck_assert_int_eq(fleet_ct_equal("aa", 2, "a", 1), 0);
    /* Lengths, not NUL terminators, count. */
    ck_assert_int_eq(fleet_ct_equal("ab\0x", 4, "ab\0y", 4), 0);
    ck_assert_int_eq(fleet_ct_equal("ab\0x", 4, "ab\0x", 4), 1);
    ck_assert_int_eq(fleet_ct_equal("abcdef", 3, "abc", 3), 1);
    /* High bytes. */
    ck_assert_int_eq(fleet_ct_equal("\xff\x80", 2, "\xff\x80", 2), 1);
    ck_assert_int_eq(fleet_ct_equal("\xff\x80", 2, "\xff\x81", 2), 0);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_load_and_scopes);
    tcase_add_test(tc, test_scope_implication);
    tcase_add_test(tc, test_unknown_tokens);
    tcase_add_test(tc, test_empty);
    tcase_add_loop_test(tc, test_bad_line, 0, (int)(sizeof(bads) / sizeof(bads[0])));
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_bearer);
    tcase_add_test(tc, test_ct_equal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
