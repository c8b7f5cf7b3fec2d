"""The services: the business rules, each bound to one tenant (crmApp.services.base)."""


def service_for(model):
    """The service class of a record model; imported on use, since the services import each other."""
    from crmApp.services.activity_service import ActivityService
    from crmApp.services.customer_service import CustomerService
    from crmApp.services.deal_service import DealService
    from crmApp.services.employee_service import EmployeeService
    from crmApp.services.lead_service import LeadService
    from crmApp.services.vendor_service import VendorService

    services = {
        "activity": ActivityService,
        "customer": CustomerService,
        "deal": DealService,
        "lead": LeadService,
        "employee": EmployeeService,
        "vendor": VendorService,
    }
    return services[model._meta.model_name]
