"""OPTIONS answers that describe only what the caller may do."""

from rest_framework.metadata import SimpleMetadata


class PermittedMetadata(SimpleMetadata):
    """DRF's metadata, with the write `actions` limited to the methods the caller may use.

    DRF checks each write method with the OPTIONS request's own (read) permission, so without this a
    viewer would be shown the POST and PUT bodies of routes they cannot write to. Views that know
    their caller's methods offer `permitted_methods()`.
    """

    def determine_actions(self, request, view):
        # Imported here: DRF reads this module while its own views are still being imported.
        from crmApp.query import handler_takes_no_body

        actions = super().determine_actions(request, view)
        # DRF describes the view's serializer as every write method's body, even one that takes none.
        actions = {method: info for method, info in actions.items() if not handler_takes_no_body(view, method)}
        if not hasattr(view, "permitted_methods"):
            return actions
        permitted = view.permitted_methods()
        return {method: info for method, info in actions.items() if method in permitted}
