#ifndef FIELD_CCURL_SHIM_H
#define FIELD_CCURL_SHIM_H

// libcurl 7.62 or newer (CURLOPT_XFERINFOFUNCTION, curl_easy_reset keeping the connection cache).
#include <curl/curl.h>

#endif
