// STYLIZER_SANITIZED: defined in a build with AddressSanitizer (the project's
// sanitizer builds add UndefinedBehaviorSanitizer with it). For the few tests
// that cannot run under them: the sanitizers' own checks need file
// descriptors (UBSan's vptr check opens a pipe to test memory), and out of
// them they report errors that are not there.
#ifndef STYLIZER_SERVER_COMMON_SANITIZED_H_
#define STYLIZER_SERVER_COMMON_SANITIZED_H_

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STYLIZER_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(STYLIZER_SANITIZED)
#define STYLIZER_SANITIZED 1
#endif

#endif  // STYLIZER_SERVER_COMMON_SANITIZED_H_
