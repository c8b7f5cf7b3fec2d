'use strict';
// Autocomplete lookups carry the organization picked in the form, so they offer only that organization's
// records (the server also knows the organization of a record being changed).
django.jQuery.ajaxPrefilter(function (options) {
    if (!options.url || options.url.indexOf('/autocomplete/') === -1) {
        return;
    }
    const organization = document.getElementById('id_organization');
    if (organization && organization.value) {
        const parameter = 'organization=' + encodeURIComponent(organization.value);
        options.data = options.data ? options.data + '&' + parameter : parameter;
    }
});
