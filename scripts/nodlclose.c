/*
 * nodlclose.so: makes dlclose() a no-op, for the sanitizer and valgrind runs.
 *
 * pam_end() unloads the PAM modules of the transaction. A leak or error
 * report printed at exit then cannot name the functions of a module that
 * is gone ("<unknown module>"), and a leak in a third-party module could
 * not be told apart from one in the project. Preloaded after the sanitizer
 * runtime, this keeps every module mapped until the process ends. Nothing
 * else changes: dlopen() of a module that is still loaded returns the same
 * handle, as it does whenever a process has two transactions at once.
 *
 * Built by .ci/sanitizers.sh and scripts/valgrind-suite.sh:
 *   gcc -shared -fPIC -O2 -o nodlclose.so scripts/nodlclose.c
 */
int
dlclose(void *handle)
{
    (void)handle;
    return 0;
}
