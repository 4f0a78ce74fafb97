// Copies the chosen drink:size radio into the form's drink and size fields.
(function () {
  var form = document.getElementById("order-form");
  if (!form) return;
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name !== "choice") return;
    document.getElementById("id_drink").value = input.dataset.drink;
    document.getElementById("id_size").value = input.dataset.size;
  });
})();
