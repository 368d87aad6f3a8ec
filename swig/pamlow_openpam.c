/*
 * confdir on OpenPAM.
 *
 * OpenPAM has no pam_start_confdir. Its pam_start reads the whole policy of
 * the service (and loads its modules) before it returns, looking for it in
 * the places listed by openpam_policy_path, a NULL-terminated array that
 * libpam exports but no installed header declares. Pointing that array at
 * the one directory "confdir/" for the length of pam_start gives confdir
 * the meaning it has on Linux-PAM: the service file, and "other" if
 * OpenPAM falls back to it, are looked up there and nowhere else.
 *
 * The array is process-wide, so every pam_start of the binding, with or
 * without confdir, runs under one mutex: no handle of ours ever sees a
 * swapped path. Code outside the binding that calls OpenPAM's pam_start
 * in another thread at the same moment does not take our mutex and could
 * read the private path; that is the limit of this approach (documented
 * in docs/topics/implementations.rst).
 *
 * The mutex is taken without the GIL (pam_start may block on the file
 * system). A fork while another thread holds it would leave the child with
 * the swapped array and a mutex nobody unlocks: the fork handlers below
 * take it around fork() instead.
 */
#include "config.h"

#ifdef HAVE_OPENPAM_POLICY_PATH

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pamlow.h"

/* libpam's own list; declared here because no installed header does. */
extern const char *openpam_policy_path[];

static pthread_mutex_t pamlow_policy_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pamlow_policy_once = PTHREAD_ONCE_INIT;

static void pamlow_policy_acquire(void) { pthread_mutex_lock(&pamlow_policy_lock); }
static void pamlow_policy_release(void) { pthread_mutex_unlock(&pamlow_policy_lock); }

static void
pamlow_policy_init(void)
{
    /* If this fails, fork() simply runs unguarded, as before. */
    (void)pthread_atfork(pamlow_policy_acquire, pamlow_policy_release,
                         pamlow_policy_release);
}

int
pamlow_openpam_start_confdir(const char *service, const char *user,
                             const struct pam_conv *conv, const char *confdir,
                             pam_handle_t **pamh)
{
    const char **saved = NULL;
    char *dir = NULL;
    size_t n = 0, i, len;
    int rc;

    *pamh = NULL;
    if (confdir != NULL) {
        len = strlen(confdir);
        dir = malloc(len + 2);
        if (dir == NULL)
            return PAM_BUF_ERR;
        memcpy(dir, confdir, len);
        /* OpenPAM takes an entry ending in '/' for a directory. */
        dir[len] = '/';
        dir[len + 1] = '\0';
    }
    pthread_once(&pamlow_policy_once, pamlow_policy_init);
    pamlow_policy_acquire();
    if (dir != NULL) {
        while (openpam_policy_path[n] != NULL)
            n++;
        saved = malloc((n + 1) * sizeof *saved);
        if (saved == NULL) {
            pamlow_policy_release();
            free(dir);
            return PAM_BUF_ERR;
        }
        for (i = 0; i <= n; i++)
            saved[i] = openpam_policy_path[i];
        /* The array holds at least one entry and its NULL: n >= 1 for any
         * policy path libpam was built with, so [0] and [1] exist. */
        if (n >= 1) {
            openpam_policy_path[0] = dir;
            openpam_policy_path[1] = NULL;
        }
    }
    if (dir != NULL && n < 1)
        rc = PAM_SYSTEM_ERR;   /* nowhere to put the directory */
    else
        rc = pam_start(service, user, conv, pamh);
    if (saved != NULL) {
        for (i = 0; i <= n; i++)
            openpam_policy_path[i] = saved[i];
        free(saved);
    }
    pamlow_policy_release();
    free(dir);
    return rc;
}

#else

/* ISO C wants a translation unit to declare something. */
typedef int pamlow_openpam_unused;

#endif
